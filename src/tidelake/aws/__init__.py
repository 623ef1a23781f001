"""The AWS wire layer: protocols and one module per service. No business logic lives here."""
