"""Fine-tuning a pretrained GPT: classification heads, supervised instruction tuning, LoRA.

- :mod:`gptlab.finetune.classify`  a classification head on the last token (chapter 09)
- :mod:`gptlab.finetune.sft`       prompt templates and response-masked fine-tuning (chapter 10)
- :mod:`gptlab.finetune.lora`      low-rank adapters written from scratch (chapter 11)
"""
