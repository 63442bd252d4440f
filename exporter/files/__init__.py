"""Safe file plumbing: descriptor-relative input opens, zip and metadata bounds, memory maps,
hashing, no-replace publishing of outputs and kernel copies."""
