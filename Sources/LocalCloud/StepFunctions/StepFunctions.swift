// The StepFunctions part of the local cloud; see its issue.
