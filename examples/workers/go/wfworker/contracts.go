package wfworker

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var english = message.NewPrinter(language.English)

// Schema stems of contracts/schemas/<stem>.schema.json used by a worker.
const (
	StepCommandSchema = "step-command"
	StepResultSchema  = "step-result"
	DeadLetterSchema  = "dead-letter"
)

// Contracts validates messages against the JSON Schemas generated from the engine's
// models (contracts/schemas/*.schema.json, draft 2020-12, formats asserted).
type Contracts struct {
	Dir     string
	schemas map[string]*jsonschema.Schema
	raw     map[string]map[string]any
}

// FindContractsDir is $WORKFLOWS_CONTRACTS_DIR, else the first `contracts` folder with
// schemas/ found walking up from the working directory, then from the executable.
func FindContractsDir() (string, error) {
	if dir := os.Getenv("WORKFLOWS_CONTRACTS_DIR"); dir != "" {
		return dir, nil
	}
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		starts = append(starts, filepath.Dir(exe))
	}
	for _, start := range starts {
		for dir := start; ; dir = filepath.Dir(dir) {
			candidate := filepath.Join(dir, "contracts")
			if _, err := os.Stat(filepath.Join(candidate, "schemas", "step-command.schema.json")); err == nil {
				return candidate, nil
			}
			if filepath.Dir(dir) == dir {
				break
			}
		}
	}
	return "", errors.New("contracts/schemas not found: set WORKFLOWS_CONTRACTS_DIR")
}

// LoadContracts compiles the worker's schemas from dir (a `contracts` folder).
func LoadContracts(dir string) (*Contracts, error) {
	c := &Contracts{Dir: dir, schemas: map[string]*jsonschema.Schema{}, raw: map[string]map[string]any{}}
	compiler := jsonschema.NewCompiler()
	compiler.AssertFormat()
	for _, stem := range []string{StepCommandSchema, StepResultSchema, DeadLetterSchema} {
		path := filepath.Join(dir, "schemas", stem+".schema.json")
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(text))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		object, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: not a JSON object", path)
		}
		id, _ := object["$id"].(string)
		if err := compiler.AddResource(id, doc); err != nil {
			return nil, err
		}
		schema, err := compiler.Compile(id)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		c.schemas[stem] = schema
		c.raw[stem] = object
	}
	return c, nil
}

// Validate checks one JSON message against the schema `stem`; the error names every
// violation on one line.
func (c *Contracts) Validate(stem string, message []byte) error {
	schema, ok := c.schemas[stem]
	if !ok {
		return fmt.Errorf("unknown schema %q", stem)
	}
	value, err := jsonschema.UnmarshalJSON(bytes.NewReader(message))
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if err := schema.Validate(value); err != nil {
		var invalid *jsonschema.ValidationError
		if errors.As(err, &invalid) {
			return fmt.Errorf("%s: %s", stem, strings.Join(leaves(invalid), "; "))
		}
		return err
	}
	return nil
}

func leaves(err *jsonschema.ValidationError) []string {
	if len(err.Causes) == 0 {
		where := "/" + strings.Join(err.InstanceLocation, "/")
		return []string{fmt.Sprintf("at %s: %s", where, err.ErrorKind.LocalizedString(english))}
	}
	var out []string
	for _, cause := range err.Causes {
		out = append(out, leaves(cause)...)
	}
	return out
}

// Properties lists the top-level properties of schema `stem`, or of its `$defs` entry
// when def is not empty (e.g. "StepError" in step-result).
func (c *Contracts) Properties(stem, def string) []string {
	schema := c.raw[stem]
	if def != "" {
		defs, _ := schema["$defs"].(map[string]any)
		schema, _ = defs[def].(map[string]any)
	}
	props, _ := schema["properties"].(map[string]any)
	names := make([]string, 0, len(props))
	for name := range props {
		names = append(names, name)
	}
	return names
}
