package dev.workflows.worker;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.Headers;

/**
 * Record signatures (docs/worker-protocol.md, "Signing"): header {@code wf-signature} is
 * {@code v1=} and the hex HMAC-SHA256 of the record's value bytes under the deployment's key.
 */
public final class Signing {
  public static final String HEADER = "wf-signature";

  private Signing() {}

  /** The header value of a record whose value is {@code value}. */
  public static String signature(byte[] key, byte[] value) {
    try {
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(key, "HmacSHA256"));
      return "v1=" + HexFormat.of().formatHex(mac.doFinal(value));
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException(e);
    }
  }

  /** WORKFLOWS_SIGNING_KEY (signs) then the JSON list WORKFLOWS_SIGNING_KEYS_PREVIOUS; empty = off. */
  public static List<byte[]> keysFromEnv() {
    List<byte[]> keys = new ArrayList<>();
    String current = System.getenv().getOrDefault("WORKFLOWS_SIGNING_KEY", "");
    if (!current.isEmpty()) {
      keys.add(current.getBytes(StandardCharsets.UTF_8));
    }
    String previous = System.getenv().getOrDefault("WORKFLOWS_SIGNING_KEYS_PREVIOUS", "");
    if (!previous.isEmpty()) {
      try {
        for (String k : new ObjectMapper().readValue(previous, String[].class)) {
          if (!k.isEmpty()) {
            keys.add(k.getBytes(StandardCharsets.UTF_8));
          }
        }
      } catch (java.io.IOException e) {
        throw new IllegalArgumentException("WORKFLOWS_SIGNING_KEYS_PREVIOUS is not a JSON list of strings", e);
      }
    }
    return keys;
  }

  /** Why a record is not validly signed under {@code keys}; null when it is, or keys is empty. */
  public static String problem(List<byte[]> keys, byte[] value, Headers headers) {
    if (keys.isEmpty()) {
      return null;
    }
    Header given = headers == null ? null : headers.lastHeader(HEADER);
    if (given == null) {
      return "the record has no wf-signature header and signing is on";
    }
    for (byte[] key : keys) {
      if (MessageDigest.isEqual(given.value(), signature(key, value).getBytes(StandardCharsets.UTF_8))) {
        return null;
      }
    }
    return "the record's wf-signature does not match its value under any signing key";
  }

  /** Add the signature header when signing is on. */
  public static void sign(List<byte[]> keys, Headers headers, byte[] value) {
    if (!keys.isEmpty()) {
      headers.add(HEADER, signature(keys.get(0), value).getBytes(StandardCharsets.UTF_8));
    }
  }
}
