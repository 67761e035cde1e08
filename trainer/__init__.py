"""The thin trainer: `python -m trainer {tokenizer,pretrain,export,contrastive,evaluate,embed,search,demo}`.

Never imports Apache Beam; reads the pipeline's output only through `schemas`.
"""
