"""Step 03: the trial grid and the training of one trial (LoRA, LoRA with a head, or full
fine-tuning), on one process or several."""

__all__ = [
    "trials",  # Trial and the grid of them
    "batching",  # training items as padded batches
    "compiled",  # train.compile: torch.compile with an on-disk cache
    "launch",  # batches per process, `accelerate launch`
    "loop",  # step 03: one trial's training loop
]
