"""recsvc: personalized product recommendations for a shop's micro-moment pages.

Train implicit-feedback models offline from shop events (``recsvc train``),
publish them as versioned artifacts, and serve them over HTTP.
"""

__version__ = "0.1.0"
