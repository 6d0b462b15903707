"""hnswlib adapter: the vector index behind a lock, atomic persistence, id mapping."""
