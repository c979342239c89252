"""drum-gen-api: the HTTP generation service for drum-gen (see README.md)."""
