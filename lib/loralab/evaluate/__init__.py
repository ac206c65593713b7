"""Step 04: choose each configuration on validation, then score every method on the same
test items."""

__all__ = [
    "selection",  # which configuration each fold chose, by train.select_by
    "methods",  # what is compared: one interface, a registry
    "step",  # step 04
]
