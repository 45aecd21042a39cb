package dev.workflows.worker;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.JsonSchema;
import com.networknt.schema.JsonSchemaFactory;
import com.networknt.schema.SchemaValidatorsConfig;
import com.networknt.schema.SpecVersion;
import com.networknt.schema.ValidationMessage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;

/**
 * The JSON Schemas generated from the engine's models (contracts/schemas/*.schema.json,
 * draft 2020-12, formats asserted), loaded from a {@code contracts} folder.
 */
public final class Contracts {
  public static final String STEP_COMMAND = "step-command";
  public static final String STEP_RESULT = "step-result";
  public static final String DEAD_LETTER = "dead-letter";

  private final Path dir;
  private final Map<String, JsonSchema> schemas = new HashMap<>();
  private final Map<String, JsonNode> raw = new HashMap<>();
  private final ObjectMapper mapper = new ObjectMapper();

  public Contracts(Path dir) {
    this.dir = dir;
    JsonSchemaFactory factory = JsonSchemaFactory.getInstance(SpecVersion.VersionFlag.V202012);
    SchemaValidatorsConfig config = SchemaValidatorsConfig.builder().formatAssertionsEnabled(true).build();
    for (String stem : List.of(STEP_COMMAND, STEP_RESULT, DEAD_LETTER)) {
      try {
        JsonNode node = mapper.readTree(dir.resolve("schemas").resolve(stem + ".schema.json").toFile());
        raw.put(stem, node);
        schemas.put(stem, factory.getSchema(node, config));
      } catch (IOException e) {
        throw new UncheckedIOException(e);
      }
    }
  }

  /**
   * {@code workflows.contracts.dir} (system property), else $WORKFLOWS_CONTRACTS_DIR, else the
   * first {@code contracts} folder with schemas/ walking up from the working directory.
   */
  public static Contracts find() {
    String configured = System.getProperty("workflows.contracts.dir", System.getenv("WORKFLOWS_CONTRACTS_DIR"));
    if (configured != null && !configured.isEmpty()) {
      return new Contracts(Path.of(configured));
    }
    for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
      Path candidate = dir.resolve("contracts");
      if (Files.isRegularFile(candidate.resolve("schemas").resolve("step-command.schema.json"))) {
        return new Contracts(candidate);
      }
    }
    throw new IllegalStateException("contracts/schemas not found: set WORKFLOWS_CONTRACTS_DIR");
  }

  public Path dir() { return dir; }

  /** The violations of {@code message} against schema {@code stem}, one line each (empty: valid). */
  public List<String> violations(String stem, JsonNode message) {
    Set<ValidationMessage> found = schemas.get(stem).validate(message);
    return found.stream().map(ValidationMessage::getMessage).sorted().collect(Collectors.toCollection(ArrayList::new));
  }

  /** The property names of schema {@code stem}, or of its {@code $defs} entry {@code def}. */
  public Set<String> properties(String stem, String def) {
    JsonNode schema = raw.get(stem);
    if (def != null) {
      schema = schema.path("$defs").path(def);
    }
    Set<String> names = new TreeSet<>();
    for (Iterator<String> it = schema.path("properties").fieldNames(); it.hasNext(); ) {
      names.add(it.next());
    }
    return names;
  }
}
