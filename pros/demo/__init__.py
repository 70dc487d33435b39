"""`pros demo`: the three commands end to end on real images that ship with installed packages."""
