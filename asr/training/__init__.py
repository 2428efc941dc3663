"""The training system: the LightningModule (task.py), LightningCLI (cli.py), callbacks, schedules, and
checkpoints -> model files."""
