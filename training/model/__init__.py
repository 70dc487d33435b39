"""Student/teacher network parts: timm ViT backbone, projection head, prototypes, and their configuration."""
