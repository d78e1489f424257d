"""What every capability shares: settings, database, auth, errors, logging, metrics, HTTP."""
