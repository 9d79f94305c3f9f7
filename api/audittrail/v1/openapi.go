package audittrailv1

import _ "embed"

// OpenAPIJSON is the OpenAPI (Swagger 2.0) document of the REST mapping,
// generated with the code of this package by `make generate`; the server
// serves it at /openapi.json. Callers must not modify it.
//
//go:embed audittrail.swagger.json
var OpenAPIJSON []byte
