"""One LightningCLI entry point for every trainable model in the workspace."""
