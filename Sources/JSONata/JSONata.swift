// The JSONata module; see the issue that builds it.
