"""Which model plays which role: the program file's schema, roles -> LMs, calibrations per target."""
