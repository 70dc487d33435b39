"""Face-aware retrieval over an embedded pool: embeddings store, FAISS index, seeded kNN, near-duplicates, balance."""
