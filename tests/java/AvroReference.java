// Avro Java (Debian's libavro-java) on the other side of strata's tests: reads JSON lines from
// standard input and answers one JSON line each.
//
//   {"op": "resolve", "writer": schema, "reader": schema, "datum": hex}
//       -> the datum read with the writer schema resolved into the reader schema, in Avro's
//          JSON encoding, or {"error": reason}
//   {"op": "compat", "writer": schema, "reader": schema}
//       -> {"compatible": true|false} from SchemaCompatibility
import java.io.BufferedReader;
import java.io.ByteArrayOutputStream;
import java.io.InputStreamReader;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.generic.GenericDatumWriter;
import org.apache.avro.io.DecoderFactory;
import org.apache.avro.io.EncoderFactory;
import org.apache.avro.io.JsonEncoder;
import org.codehaus.jackson.map.ObjectMapper;
import org.codehaus.jackson.node.ObjectNode;

public class AvroReference {
    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.trim().isEmpty()) continue;
            ObjectNode job = (ObjectNode) mapper.readTree(line);
            ObjectNode out = mapper.createObjectNode();
            try {
                Schema writer = new Schema.Parser().parse(job.get("writer").toString());
                Schema reader = new Schema.Parser().parse(job.get("reader").toString());
                String op = job.get("op").getTextValue();
                if (op.equals("compat")) {
                    SchemaCompatibility.SchemaPairCompatibility result =
                        SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
                    out.put("compatible", result.getType() == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE);
                } else {
                    byte[] datum = hex(job.get("datum").getTextValue());
                    Object value = new GenericDatumReader<Object>(writer, reader)
                        .read(null, DecoderFactory.get().binaryDecoder(datum, null));
                    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
                    JsonEncoder encoder = EncoderFactory.get().jsonEncoder(reader, bytes);
                    new GenericDatumWriter<Object>(reader).write(value, encoder);
                    encoder.flush();
                    out.put("value", mapper.readTree(bytes.toString("UTF-8")));
                }
            } catch (Exception e) {
                out.put("error", e.getClass().getSimpleName() + ": " + e.getMessage());
            }
            System.out.println(mapper.writeValueAsString(out));
        }
    }

    static byte[] hex(String text) {
        byte[] out = new byte[text.length() / 2];
        for (int i = 0; i < out.length; i++) {
            out[i] = (byte) Integer.parseInt(text.substring(2 * i, 2 * i + 2), 16);
        }
        return out;
    }
}
