using System.Buffers.Binary;

namespace IlgpuStyle.Weights.Caffe;

/// <summary>
/// Reads the protobuf wire format by hand. A message is a sequence of (tag, value) pairs; the tag
/// is a varint <c>field_number &lt;&lt; 3 | wire_type</c>, and the wire type says how to read the
/// value: 0 varint, 1 fixed 64-bit, 2 length-delimited (strings, sub-messages, packed arrays),
/// 5 fixed 32-bit. Unknown fields are skipped by wire type, which is what makes the format
/// extensible, so a reader only needs the fields it uses.
/// </summary>
internal struct ProtoReader
{
    private readonly byte[] _data;
    private readonly int _end;
    private int _position;

    public ProtoReader(byte[] data, int start, int end)
    {
        _data = data;
        _position = start;
        _end = end;
    }

    public readonly bool AtEnd => _position >= _end;

    public readonly int Position => _position;

    /// <summary>Reads the next tag; false at the end of the message.</summary>
    public bool TryReadTag(out int field, out int wireType)
    {
        field = 0;
        wireType = 0;
        if (AtEnd)
            return false;
        ulong tag = ReadVarint();
        field = (int)(tag >> 3);
        wireType = (int)(tag & 7);
        if (field == 0 || tag >> 3 > int.MaxValue)
            throw new SourceFormatException($"invalid protobuf tag at byte {_position}");
        return true;
    }

    public ulong ReadVarint()
    {
        ulong value = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (_position >= _end)
                throw Truncated("a varint");
            byte b = _data[_position++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
                return value;
        }
        throw new SourceFormatException($"protobuf varint longer than 10 bytes at byte {_position}");
    }

    /// <summary>Reads a length-delimited value and returns a reader over just its bytes.</summary>
    public ProtoReader ReadMessage()
    {
        ulong length = ReadVarint();
        if (length > (ulong)(_end - _position))
            throw Truncated($"a {length}-byte field");
        var inner = new ProtoReader(_data, _position, _position + (int)length);
        _position += (int)length;
        return inner;
    }

    public string ReadString()
    {
        var inner = ReadMessage();
        return System.Text.Encoding.UTF8.GetString(_data, inner._position, inner._end - inner._position);
    }

    public float ReadFixedFloat()
    {
        Need(4);
        float value = BinaryPrimitives.ReadSingleLittleEndian(_data.AsSpan(_position));
        _position += 4;
        return value;
    }

    public double ReadFixedDouble()
    {
        Need(8);
        double value = BinaryPrimitives.ReadDoubleLittleEndian(_data.AsSpan(_position));
        _position += 8;
        return value;
    }

    /// <summary>The unread bytes of this (length-delimited) reader, e.g. a packed float array.</summary>
    public readonly ReadOnlySpan<byte> Remaining => _data.AsSpan(_position, _end - _position);

    /// <summary>Skips a value of the given wire type.</summary>
    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: ReadVarint(); break;
            case 1: Need(8); _position += 8; break;
            case 2: ReadMessage(); break;
            case 5: Need(4); _position += 4; break;
            default: throw new SourceFormatException($"unsupported protobuf wire type {wireType} at byte {_position}");
        }
    }

    private readonly void Need(int bytes)
    {
        if (_end - _position < bytes)
            throw Truncated($"a {bytes}-byte value");
    }

    private readonly SourceFormatException Truncated(string what) =>
        new($"truncated: {what} at byte {_position} runs past the end of its message (file has {_data.Length} bytes)");
}
