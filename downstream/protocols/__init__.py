"""Evaluation protocols: linear probe on cached features, fine-tuning, few-shot label subsets."""
