package admin

import (
	"context"

	"github.com/batonauth/baton"
	"github.com/batonauth/baton/session"
)

// Event types of client administration, beside session.EventClientDeleted.
// Their Detail names the client ("admin, client ID"); a secret never
// reaches the audit log.
const (
	EventClientAdd          = "client_add"
	EventClientUpdate       = "client_update"
	EventClientSecretRotate = "client_secret_rotate"
)

func clientDetail(id string) string { return DetailAdmin + ", client " + id }

// noClient is the ENotFound of every client operation, naming the id.
func noClient(id string, err error) error {
	if baton.ErrorCode(err) == baton.ENotFound {
		return baton.Errorf(baton.ENotFound, "no client %q", id)
	}
	return err
}

// AddClient registers a client and returns it with its secret (empty for
// a public client), which is shown once: only its hash is stored.
// EInvalidRequest.
func (a *Admin) AddClient(ctx context.Context, spec session.ClientSpec) (*baton.OAuthClient, string, error) {
	c, secret, err := a.svc.AddClient(ctx, spec)
	if err != nil {
		return nil, "", err
	}
	a.emit(ctx, session.Event{Type: EventClientAdd, Outcome: session.OutcomeOK, Detail: clientDetail(c.ID)})
	return c, secret, nil
}

// Client returns the client with the given id. ENotFound.
func (a *Admin) Client(ctx context.Context, id string) (*baton.OAuthClient, error) {
	c, err := a.svc.Client(ctx, id)
	return c, noClient(id, err)
}

// Clients lists clients ordered by id, after the id after, at most limit.
func (a *Admin) Clients(ctx context.Context, after string, limit int) ([]*baton.OAuthClient, error) {
	return a.svc.Clients(ctx, after, limit)
}

// UpdateClient changes the client's registration by apply; the secret
// stays. Every instance uses the new registration at its next request.
// EInvalidRequest; ENotFound.
func (a *Admin) UpdateClient(ctx context.Context, id string, apply func(*session.ClientSpec)) (*baton.OAuthClient, error) {
	c, err := a.svc.UpdateClient(ctx, id, apply)
	if err != nil {
		return nil, noClient(id, err)
	}
	a.emit(ctx, session.Event{Type: EventClientUpdate, Outcome: session.OutcomeOK, Detail: clientDetail(c.ID)})
	return c, nil
}

// RotateClientSecret gives a confidential client a new secret, returned
// once; the old one stops working at once. EInvalidRequest for a public
// client; ENotFound.
func (a *Admin) RotateClientSecret(ctx context.Context, id string) (string, error) {
	secret, err := a.svc.RotateClientSecret(ctx, id)
	if err != nil {
		return "", noClient(id, err)
	}
	a.emit(ctx, session.Event{Type: EventClientSecretRotate, Outcome: session.OutcomeOK, Detail: clientDetail(id)})
	return secret, nil
}

// DeleteClient deletes the client and its consents and revokes every
// session issued to it; the session engine reports client_deleted.
// ENotFound.
func (a *Admin) DeleteClient(ctx context.Context, id string) error {
	return noClient(id, a.svc.DeleteClient(ctx, id, a.opt.Client))
}
