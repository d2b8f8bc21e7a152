package baton

import (
	"crypto/rand"
	"encoding/json"
	"time"
)

// NewBackchannelLogout returns the outbox message that carries the logout
// token of session sessionID (of user userID, issued to client clientID)
// to uri, due at now. The stores call it in every transaction that revokes
// such a session, so the message commits with the revocation. Its ID, the
// token's jti, is 128 random bits: unique per revocation, and the same
// across the sender's retries.
func NewBackchannelLogout(uri, sessionID, userID, clientID string, now time.Time) *OutboxMessage {
	// Marshalling three strings cannot fail.
	payload, _ := json.Marshal(BackchannelLogout{SessionID: sessionID, UserID: userID, ClientID: clientID})
	return &OutboxMessage{
		ID:            rand.Text(),
		Kind:          OutboxBackchannelLogout,
		Recipient:     uri,
		Payload:       payload,
		CreatedAt:     now,
		NextAttemptAt: now,
	}
}
