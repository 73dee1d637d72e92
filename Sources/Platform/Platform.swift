// The Platform module; see the issue that builds it.
