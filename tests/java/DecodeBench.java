// Avro Java's GenericDatumReader on the codec benchmark's data, timed in the same run as
// strata's decoders (tests/benches/codec/main.rs writes the cases and runs this).
//
// Usage: java DecodeBench DIR [MILLISECONDS]
//   DIR/cases.txt lists case names; for each, DIR/<case>.writer.avsc, DIR/<case>.reader.avsc
//   and DIR/<case>.datums (a count, then each datum's length and bytes, big-endian ints).
// Prints `<case> <median microseconds per batch>` per case, after a warm-up for the JIT.

import java.io.DataInputStream;
import java.io.FileInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.apache.avro.Schema;
import org.apache.avro.generic.GenericDatumReader;
import org.apache.avro.io.BinaryDecoder;
import org.apache.avro.io.DecoderFactory;

public class DecodeBench {
    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[0]);
        long budgetNanos = (args.length > 1 ? Long.parseLong(args[1]) : 3000) * 1_000_000L;
        for (String name : Files.readAllLines(dir.resolve("cases.txt"))) {
            if (name.isEmpty()) {
                continue;
            }
            Schema writer = new Schema.Parser().parse(dir.resolve(name + ".writer.avsc").toFile());
            Schema reader = new Schema.Parser().parse(dir.resolve(name + ".reader.avsc").toFile());
            byte[][] datums = read(dir.resolve(name + ".datums"));
            GenericDatumReader<Object> datumReader = new GenericDatumReader<>(writer, reader);
            BinaryDecoder decoder = null;
            int checksum = 0;
            long end = System.nanoTime() + budgetNanos / 2;
            while (System.nanoTime() < end) {
                for (byte[] datum : datums) {
                    decoder = DecoderFactory.get().binaryDecoder(datum, decoder);
                    checksum += datumReader.read(null, decoder).hashCode();
                }
            }
            List<Long> samples = new ArrayList<>();
            end = System.nanoTime() + budgetNanos;
            while (System.nanoTime() < end || samples.size() < 20) {
                long start = System.nanoTime();
                for (byte[] datum : datums) {
                    decoder = DecoderFactory.get().binaryDecoder(datum, decoder);
                    checksum += datumReader.read(null, decoder).hashCode() & 1;
                }
                samples.add(System.nanoTime() - start);
            }
            Collections.sort(samples);
            System.out.println(name + " " + samples.get(samples.size() / 2) / 1000.0);
            if (checksum == 42) {
                System.err.println("(checksum)");
            }
        }
    }

    private static byte[][] read(Path path) throws Exception {
        try (DataInputStream in = new DataInputStream(new FileInputStream(path.toFile()))) {
            byte[][] datums = new byte[in.readInt()][];
            for (int i = 0; i < datums.length; i++) {
                datums[i] = new byte[in.readInt()];
                in.readFully(datums[i]);
            }
            return datums;
        }
    }
}
