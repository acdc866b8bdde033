"""``gpucheck explain``: error texts and pasted outputs → recognised signatures, facts, ranked causes."""
