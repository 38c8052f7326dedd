"""Commands: eval_cmd (registered on the apps in promptkit.cli._app)."""
