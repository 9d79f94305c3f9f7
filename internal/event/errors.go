package event

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every validation error, so transports can map all
// of them to INVALID_ARGUMENT with errors.Is.
var ErrInvalid = errors.New("invalid argument")

// FieldError reports one violated rule. Its message names the field and the
// rule, e.g. `metadata key "Invalid-Key": must be lowercase letters, digits or '_'`.
type FieldError struct {
	Field string // the field as the API names it, e.g. "event.principal"
	Rule  string // the rule that was broken
	// Text, when set, is the whole message instead of "Field: Rule": for
	// the few messages whose wording clients compare.
	Text string
}

func (e *FieldError) Error() string {
	if e.Text != "" {
		return e.Text
	}
	return e.Field + ": " + e.Rule
}

// Unwrap makes every FieldError match ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Rule: fmt.Sprintf(format, args...)}
}
