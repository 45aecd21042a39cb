# A tiny JSON Schema validator in jq for the schemas that contracts/generate.py writes.
#
#   jq -c --slurpfile schema contracts/schemas/step-command.schema.json -f validate.jq msg.json
#
# prints a JSON array of violations ("at /path: why"; [] when valid). It checks: type
# (object, array, string, integer, number, boolean, null; a list of types), const, enum,
# minimum, maximum, minLength, maxLength, pattern (Oniguruma regex), format "date-time" (an
# RFC 3339 regex), required, properties, additionalProperties (false, or a schema),
# items, anyOf, and local "$ref"s ("#/$defs/..."). Annotations ($schema, $id, $comment,
# title, description, default, examples) are ignored. Any other keyword in the schema is
# reported as a violation ("unsupported keyword"), so a contract change that needs more of
# JSON Schema fails loudly instead of passing unchecked.

def known_keywords:
  ["$schema", "$id", "$comment", "$defs", "$ref", "title", "description", "default", "examples",
   "type", "const", "enum", "minimum", "maximum", "minLength", "maxLength", "pattern", "format",
   "required", "properties", "additionalProperties", "items", "anyOf"];

def where($at): if $at == "" then "/" else $at end;

def is_type($t):
  if $t == "integer" then type == "number" and . == floor
  elif $t == "number" then type == "number"
  else type == $t end;

def resolve($root):
  if type == "object" and has("$ref") then
    (.["$ref"] | ltrimstr("#/") | split("/")) as $path | $root | getpath($path)
  else . end;

def violations($schema; $root; $at):
  . as $v
  | ($schema | resolve($root)) as $s
  | if ($s | type) == "boolean" then (if $s then [] else ["at \(where($at)): not allowed"] end)
    else [
      ($s | keys[] | select(. as $k | known_keywords | index($k) | not)
        | "at \(where($at)): unsupported keyword \(.)"),
      (if $s.type == null then empty
       elif ([$s.type] | flatten | any(. as $t | $v | is_type($t))) then empty
       else "at \(where($at)): expected \([$s.type] | flatten | join(" or ")), got \($v | type)" end),
      (if ($s | has("const")) and $v != $s.const then "at \(where($at)): must be \($s.const | tojson)" else empty end),
      (if $s.enum != null and ($s.enum | index([$v]) | not) then "at \(where($at)): not one of \($s.enum | tojson)" else empty end),
      (if ($v | type) == "number" then
         (if $s.minimum != null and $v < $s.minimum then "at \(where($at)): below the minimum \($s.minimum)" else empty end),
         (if $s.maximum != null and $v > $s.maximum then "at \(where($at)): above the maximum \($s.maximum)" else empty end)
       else empty end),
      (if ($v | type) == "string" then
         (if $s.minLength != null and ($v | length) < $s.minLength then "at \(where($at)): shorter than \($s.minLength)" else empty end),
         (if $s.maxLength != null and ($v | length) > $s.maxLength then "at \(where($at)): longer than \($s.maxLength)" else empty end),
         (if $s.pattern != null and ($v | test($s.pattern) | not) then "at \(where($at)): does not match \($s.pattern)" else empty end),
         (if $s.format == "date-time" and ($v | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$") | not)
          then "at \(where($at)): not an RFC 3339 date-time" else empty end)
       else empty end),
      (if ($v | type) == "object" then
         (($s.required // [])[] | select(. as $k | $v | has($k) | not) | "at \(where($at)): missing required property \(.)"),
         ($v | keys[] as $k
          | if ($s.properties // {}) | has($k) then ($v[$k] | violations($s.properties[$k]; $root; "\($at)/\($k)")[])
            elif $s.additionalProperties == false then "at \(where($at)): unknown property \($k)"
            elif ($s.additionalProperties | type) == "object" then ($v[$k] | violations($s.additionalProperties; $root; "\($at)/\($k)")[])
            else empty end)
       else empty end),
      (if ($v | type) == "array" and $s.items != null then
         ($v | to_entries[] | .key as $i | .value | violations($s.items; $root; "\($at)/\($i)")[])
       else empty end),
      (if $s.anyOf != null and ([$s.anyOf[] as $alt | $v | violations($alt; $root; $at) | length == 0] | any | not)
       then "at \(where($at)): matches none of anyOf" else empty end)
    ] end;

$schema[0] as $root | violations($root; $root; "")
