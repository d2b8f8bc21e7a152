package ratelimit

// Keys is how many keys c holds, for tests of its memory bound.
func (c *Counter) Keys() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.tat)
}
