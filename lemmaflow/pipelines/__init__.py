"""Built-in pipeline specs (YAML), loaded by name with ``lemmaflow solve --pipeline NAME``."""
