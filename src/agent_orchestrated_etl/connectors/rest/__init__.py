"""The REST API source: a declarative spec's resources paged through, nested JSON flattened."""
