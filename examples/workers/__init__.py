"""Function workers in other languages (node/, go/, java/, python/, kcat/); see README.md."""
