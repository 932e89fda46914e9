package watch_test

import "github.com/heraldhq/herald/events"

func encode(key string) string { return events.EncodeKey(key) }
