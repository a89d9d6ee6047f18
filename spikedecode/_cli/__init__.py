"""Sub-commands of the ``spikedecode`` CLI (one module each, exposing ``command``)."""
