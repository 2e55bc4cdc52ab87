"""The launch form's state and logic: the config tree, the form model and Hydra override handling."""
