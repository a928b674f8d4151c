// The one way the CLI prints YAML. Users feed it to kubectl, which reads YAML 1.1 (sigs.k8s.io/yaml
// over go-yaml v2), where `yes`, `on`, `y`, `~`, `0777` and many more plain scalars are not strings.
// The yaml package writes YAML 1.2 by default and leaves those unquoted, so a label "yes" reached
// kubectl as a boolean. Here every string that a YAML 1.1 or a YAML 1.2 reader could take for
// something else is quoted: the yaml package does it by checking each plain string against the
// scalar tags of the schema it writes (YAML 1.1) and of its `compat` schema (YAML 1.2 core).
// test/cli/yaml-output.test.ts holds the cases, decoded by kubectl itself.
import { stringify, type ScalarTag } from 'yaml';

/**
 * The forms go-yaml v2 resolves to non-strings that neither schema of the yaml package matches:
 * go-yaml removes `_` and hands the rest to Go's strconv.ParseInt(s, 0, 64), which also accepts the
 * upper-case prefixes 0X, 0O, 0B; and YAML 1.1's `<<` (merge) and `=` (value) keys. A tag that is
 * never chosen for a value (no `identify`) and exists only so that its `test` makes the writer
 * quote what it matches.
 */
const goYamlNonStrings: ScalarTag = {
  tag: 'tag:exporter-injector.io,2026:go-yaml-non-string',
  default: true,
  test: /^(?:[-+]?0[bBoOxX][0-9a-fA-F_]+|<<|=)$/,
  resolve: (source: string) => source,
};

/**
 * YAML 1.1 reads NEL, LS and PS (U+0085, U+2028, U+2029) as line breaks (kubectl then refuses the
 * file, or folds the break into a space); YAML 1.2 reads them as content, and the yaml package
 * writes them raw, even inside double quotes. A string holding one is written double-quoted with
 * each of them escaped (JSON's \uXXXX escapes are valid YAML 1.1 escapes).
 */
const YAML11_BREAKS = /[\u0085\u2028\u2029]/;
const escapedBreaksString: ScalarTag = {
  tag: 'tag:yaml.org,2002:str',
  default: true,
  identify: (value) => typeof value === 'string' && YAML11_BREAKS.test(value),
  resolve: (source: string) => source,
  stringify: (item) =>
    JSON.stringify(String(item.value)).replace(
      /[\u0085\u2028\u2029]/g,
      (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
    ),
};

const MERGE_TAG = 'tag:yaml.org,2002:merge';

/** YAML that means the same to kubectl (YAML 1.1) as to a YAML 1.2 reader: our object, exactly. */
export function toYaml(value: unknown): string {
  return stringify(value, {
    version: '1.1',
    compat: 'core',
    // escapedBreaksString first, so that it is chosen over the schema's string tag for the strings
    // it identifies. The YAML 1.1 schema's merge tag goes: it writes the *string* "<<" as a bare
    // merge key; without it "<<" is an ordinary string, which goYamlNonStrings then quotes.
    customTags: (tags) => [escapedBreaksString, ...tags.filter((t) => typeof t === 'string' || t.tag !== MERGE_TAG), goYamlNonStrings],
    lineWidth: 0,
  });
}
