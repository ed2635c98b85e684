package dev.wxseal.examples;

import dev.wxseal.Client;
import dev.wxseal.WxsealException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * An example client: one sealed request with {@link Client}, the opened answer on stdout.
 *
 * <pre>
 * java -cp build/wxseal.jar:build/examples.jar dev.wxseal.examples.ExampleClient [--signed] \
 *     BASE_URL KEY_ID SECRET_B64U SERVER_KEY_ID SERVER_PUBLIC_PEM_FILE METHOD TARGET [BODY] [openid=.. appid=.. ...]
 * </pre>
 *
 * Prints {@code HTTP <status> <content type>} on stderr and the body on stdout; exit 0. A rejection
 * prints {@code rejected: <code>} on stderr, exit 1.
 */
public final class ExampleClient {
    public static void main(String[] args) throws Exception {
        boolean signed = args.length > 0 && args[0].equals("--signed");
        String[] a = signed ? java.util.Arrays.copyOfRange(args, 1, args.length) : args;
        if (a.length < 7) {
            System.err.println("usage: ExampleClient [--signed] BASE_URL KEY_ID SECRET_B64U SERVER_KEY_ID SERVER_PUBLIC_PEM METHOD TARGET [BODY] [member=value ...]");
            System.exit(2);
        }
        Client client = Client.builder()
            .baseUrl(a[0])
            .credential(a[1], Base64.getUrlDecoder().decode(a[2]))
            .serverKeyPem(a[3], Files.readString(Path.of(a[4]), StandardCharsets.UTF_8))
            .mode(signed ? "signed" : "sealed")
            .build();
        byte[] body = a.length > 7 ? a[7].getBytes(StandardCharsets.UTF_8) : new byte[0];
        Map<String, String> identity = new LinkedHashMap<>();
        for (int i = 8; i < a.length; i++) {
            String[] kv = a[i].split("=", 2);
            identity.put(kv[0], kv[1]);
        }
        try {
            Client.Response r = client.send(a[5], a[6], a.length > 7 ? "application/json" : null, body, identity);
            System.err.println("HTTP " + r.status() + " " + r.contentType());
            System.out.write(r.body());
            System.out.println();
            System.out.flush();
        } catch (WxsealException e) {
            System.err.println("rejected: " + e.code() + " (" + e.getMessage() + ")");
            System.exit(1);
        }
    }
}
