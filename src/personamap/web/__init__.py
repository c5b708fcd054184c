"""The web service: a FastAPI app assigning customers to the personas of the production catalog.

Build it with :func:`personamap.web.app.create_app`; ``personamap serve`` runs it under gunicorn.
"""
