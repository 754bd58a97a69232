package main

import "github.com/google/uuid"

func newCommandID() string { return uuid.NewString() }
