"""One service in two versions: `new` added an enum value that `old`'s client lacks."""
