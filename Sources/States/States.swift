// The States module; see the issue that builds it.
