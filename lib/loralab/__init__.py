"""loralab: what does LoRA fine-tuning buy a language model on a text-classification task?"""

__version__ = "0.1.0"
