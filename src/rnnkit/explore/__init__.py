"""rnnkit.explore: see inside a trained model, in the browser or in one HTML file.

* :mod:`.models`: run directories -> loaded models with a name, a kind and their shape.
* :mod:`.cells`: find cells by a pattern (regex, line position) and gate saturation.
* :mod:`.gradients`: gradient-flow curves with the trained weights beside random ones.
* :mod:`.api`: the JSON endpoints as plain functions, with their bounds (no web code).
* :mod:`.server`: the Starlette app and the uvicorn server (``pip install 'rnnkit[explore]'``).
* :mod:`.report`: the same page written to one self-contained HTML file.
* :mod:`.command`: what ``rnnkit explore`` runs.

The page's JavaScript and CSS (``static/``) are our own and fetch nothing from
the internet. The endpoints are documented in docs/explore.md.
"""
