using System.Buffers.Binary;
using System.Numerics;
using System.Text;

namespace IlgpuStyle.Weights.Pth;

/// <summary>A dict built by the pickle (plain <c>dict</c> or <c>OrderedDict</c>): entries in insertion order.</summary>
internal sealed class PickleDict
{
    public List<KeyValuePair<object?, object?>> Entries { get; } = [];

    public void Set(object? key, object? value)
    {
        int i = Entries.FindIndex(e => Equals(e.Key, key));
        if (i >= 0)
            Entries[i] = new(key, value);
        else
            Entries.Add(new(key, value));
    }

    public object? Get(string key) => Entries.FirstOrDefault(e => Equals(e.Key, key)).Value;
}

/// <summary>
/// A small interpreter for Python's pickle format, protocols 2 to 5: enough opcodes to rebuild a
/// state dict and nothing that can run code. Pickle is a stack machine whose <c>GLOBAL</c> opcode
/// names any Python callable and whose <c>REDUCE</c> calls it; here every global goes through
/// <c>resolveGlobal</c>, which returns a harmless marker for the few a state dict needs and throws
/// for everything else, and <c>REDUCE</c> goes through <c>call</c>, which only knows those markers.
/// </summary>
internal sealed class PickleMachine
{
    private readonly Stream _input;
    private readonly Func<string, string, object> _resolveGlobal;
    private readonly Func<object, object?[], object?> _call;
    private readonly Func<object?, object?> _persistentLoad;
    private readonly List<object?> _stack = [];
    private readonly List<int> _marks = [];
    private readonly Dictionary<long, object?> _memo = [];

    /// <param name="input">Positioned at the pickle's first byte; left just after its STOP.</param>
    /// <param name="resolveGlobal">(module, name) to a marker object, or throws to refuse.</param>
    /// <param name="call">Applies a marker to its arguments (REDUCE and NEWOBJ).</param>
    /// <param name="persistentLoad">Turns a persistent id (torch: a storage description) into an object.</param>
    public PickleMachine(Stream input, Func<string, string, object> resolveGlobal,
        Func<object, object?[], object?> call, Func<object?, object?> persistentLoad)
    {
        _input = input;
        _resolveGlobal = resolveGlobal;
        _call = call;
        _persistentLoad = persistentLoad;
    }

    /// <summary>Runs one pickle to its STOP opcode and returns the object it built.</summary>
    public object? Load()
    {
        _stack.Clear();
        _marks.Clear();
        _memo.Clear();
        while (true)
        {
            long at = _input.Position;
            int op = _input.ReadByte();
            if (op < 0)
                throw Truncated("pickle ends without a STOP opcode");
            switch (op)
            {
                case 0x80: // PROTO
                    int protocol = ReadByte();
                    if (protocol > 5)
                        throw new SourceFormatException($"pickle protocol {protocol} is newer than 5");
                    break;
                case 0x95: // FRAME: a length prefix used for buffering; the opcodes inside read the same
                    ReadBytes(8);
                    break;
                case '.': // STOP
                    if (_stack.Count != 1)
                        throw new SourceFormatException(
                            $"pickle STOP at byte {at} with {_stack.Count} objects on the stack");
                    return _stack[0];

                case '(': _marks.Add(_stack.Count); break; // MARK
                case '0': Pop(); break; // POP
                case '1': PopMark(); break; // POP_MARK
                case '2': Push(Peek()); break; // DUP

                case 'N': Push(null); break;
                case 0x88: Push(true); break; // NEWTRUE
                case 0x89: Push(false); break; // NEWFALSE
                case 'K': Push((long)ReadByte()); break; // BININT1
                case 'M': Push((long)BinaryPrimitives.ReadUInt16LittleEndian(ReadBytes(2))); break; // BININT2
                case 'J': Push((long)BinaryPrimitives.ReadInt32LittleEndian(ReadBytes(4))); break; // BININT
                case 0x8a: Push(ReadLong(ReadByte())); break; // LONG1
                case 0x8b: Push(ReadLong(ReadLength(4))); break; // LONG4
                case 'G': Push(BinaryPrimitives.ReadDoubleBigEndian(ReadBytes(8))); break; // BINFLOAT

                case 'X': Push(ReadUtf8(ReadLength(4))); break; // BINUNICODE
                case 0x8c: Push(ReadUtf8(ReadByte())); break; // SHORT_BINUNICODE
                case 0x8d: Push(ReadUtf8(ReadLength(8))); break; // BINUNICODE8
                case 'T': Push(Encoding.Latin1.GetString(ReadBytes(ReadLength(4)))); break; // BINSTRING (Python 2 str)
                case 'U': Push(Encoding.Latin1.GetString(ReadBytes(ReadByte()))); break; // SHORT_BINSTRING
                case 'B': Push(ReadBytes(ReadLength(4))); break; // BINBYTES
                case 'C': Push(ReadBytes(ReadByte())); break; // SHORT_BINBYTES
                case 0x8e: Push(ReadBytes(ReadLength(8))); break; // BINBYTES8
                case 0x96: Push(ReadBytes(ReadLength(8))); break; // BYTEARRAY8

                case ')': Push(Array.Empty<object?>()); break; // EMPTY_TUPLE
                case 't': Push(PopMark().ToArray()); break; // TUPLE
                case 0x85: Push(PopN(1)); break; // TUPLE1
                case 0x86: Push(PopN(2)); break; // TUPLE2
                case 0x87: Push(PopN(3)); break; // TUPLE3
                case ']': Push(new List<object?>()); break; // EMPTY_LIST
                case 'l': Push(PopMark()); break; // LIST
                case 'a': // APPEND
                    {
                        var item = Pop();
                        As<List<object?>>(Peek(), "APPEND").Add(item);
                        break;
                    }
                case 'e': // APPENDS
                    {
                        var items = PopMark();
                        As<List<object?>>(Peek(), "APPENDS").AddRange(items);
                        break;
                    }
                case 0x8f: Push(new List<object?>()); break; // EMPTY_SET (a set is only ever a container here)
                case 0x90: // ADDITEMS
                    {
                        var items = PopMark();
                        As<List<object?>>(Peek(), "ADDITEMS").AddRange(items);
                        break;
                    }
                case 0x91: Push(PopMark()); break; // FROZENSET
                case '}': Push(new PickleDict()); break; // EMPTY_DICT
                case 'd': // DICT
                    {
                        var items = PopMark();
                        var dict = new PickleDict();
                        SetItems(dict, items);
                        Push(dict);
                        break;
                    }
                case 's': // SETITEM
                    {
                        var value = Pop();
                        var key = Pop();
                        As<PickleDict>(Peek(), "SETITEM").Set(key, value);
                        break;
                    }
                case 'u': // SETITEMS
                    {
                        var items = PopMark();
                        SetItems(As<PickleDict>(Peek(), "SETITEMS"), items);
                        break;
                    }

                case 'q': _memo[ReadByte()] = Peek(); break; // BINPUT
                case 'r': _memo[BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))] = Peek(); break; // LONG_BINPUT
                case 0x94: _memo[_memo.Count] = Peek(); break; // MEMOIZE
                case 'h': Push(Memo(ReadByte())); break; // BINGET
                case 'j': Push(Memo(BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4)))); break; // LONG_BINGET

                case 'c': // GLOBAL "module\nname\n"
                    {
                        string module = ReadLine();
                        string name = ReadLine();
                        Push(_resolveGlobal(module, name));
                        break;
                    }
                case 0x93: // STACK_GLOBAL
                    {
                        var name = Pop();
                        var module = Pop();
                        if (module is not string m || name is not string n)
                            throw new SourceFormatException($"pickle STACK_GLOBAL at byte {at} without two strings");
                        Push(_resolveGlobal(m, n));
                        break;
                    }
                case 'R': // REDUCE: callable(*args)
                case 0x81: // NEWOBJ: cls.__new__(cls, *args); the allowed classes build the same way
                    {
                        var args = Pop();
                        var callable = Pop();
                        if (args is not object?[] tuple || callable is null)
                            throw new SourceFormatException($"pickle {(op == 'R' ? "REDUCE" : "NEWOBJ")} at byte " +
                                                            $"{at} without a callable and an argument tuple");
                        Push(_call(callable, tuple));
                        break;
                    }
                case 'b': // BUILD: obj.__setstate__(state)
                    {
                        Pop();
                        // An OrderedDict state dict carries a `_metadata` attribute (module versions);
                        // it does not change any tensor, so it is dropped. Nothing else may be built.
                        if (Peek() is not PickleDict)
                            throw new SourceFormatException(
                                $"pickle BUILD at byte {at} on an object that is not a dict");
                        break;
                    }
                case 'Q': // BINPERSID
                    Push(_persistentLoad(Pop()));
                    break;

                default:
                    throw new SourceFormatException($"unsupported pickle opcode 0x{op:x2} at byte {at}");
            }
        }
    }

    private static void SetItems(PickleDict dict, List<object?> items)
    {
        if (items.Count % 2 != 0)
            throw new SourceFormatException("pickle SETITEMS with an odd number of items");
        for (int i = 0; i < items.Count; i += 2)
            dict.Set(items[i], items[i + 1]);
    }

    private T As<T>(object? value, string opcode)
        where T : class =>
        value as T ?? throw new SourceFormatException(
            $"pickle {opcode} at byte {_input.Position - 1} on a {value?.GetType().Name ?? "None"}");

    private void Push(object? value) => _stack.Add(value);

    private object? Peek() =>
        _stack.Count > 0 ? _stack[^1] : throw new SourceFormatException(
            $"pickle stack underflow at byte {_input.Position - 1}");

    private object? Pop()
    {
        var value = Peek();
        _stack.RemoveAt(_stack.Count - 1);
        if (_marks.Count > 0 && _marks[^1] > _stack.Count)
            throw new SourceFormatException($"pickle pops past a MARK at byte {_input.Position - 1}");
        return value;
    }

    private object?[] PopN(int n)
    {
        if (_stack.Count - n < (_marks.Count > 0 ? _marks[^1] : 0))
            throw new SourceFormatException($"pickle stack underflow at byte {_input.Position - 1}");
        var items = _stack.GetRange(_stack.Count - n, n).ToArray();
        _stack.RemoveRange(_stack.Count - n, n);
        return items;
    }

    private List<object?> PopMark()
    {
        if (_marks.Count == 0)
            throw new SourceFormatException($"pickle needs a MARK at byte {_input.Position - 1}");
        int mark = _marks[^1];
        _marks.RemoveAt(_marks.Count - 1);
        var items = _stack.GetRange(mark, _stack.Count - mark);
        _stack.RemoveRange(mark, _stack.Count - mark);
        return items;
    }

    private object? Memo(long index) =>
        _memo.TryGetValue(index, out var value) ? value : throw new SourceFormatException(
            $"pickle memo {index} read before it was written");

    private int ReadByte()
    {
        int b = _input.ReadByte();
        return b >= 0 ? b : throw Truncated("pickle ends inside an opcode");
    }

    /// <summary>Reads a length field and checks it against the bytes left, so a corrupt length fails
    /// as "truncated" instead of allocating an absurd buffer.</summary>
    private int ReadLength(int size)
    {
        long length = size == 4
            ? BinaryPrimitives.ReadUInt32LittleEndian(ReadBytes(4))
            : BinaryPrimitives.ReadInt64LittleEndian(ReadBytes(8));
        if (length < 0 || length > _input.Length - _input.Position)
            throw Truncated($"pickle item of {length} bytes runs past the end of the file");
        return (int)length;
    }

    private byte[] ReadBytes(int count)
    {
        if (count > _input.Length - _input.Position)
            throw Truncated("pickle ends inside an opcode");
        var bytes = new byte[count];
        _input.ReadExactly(bytes);
        return bytes;
    }

    private string ReadUtf8(int count) => Encoding.UTF8.GetString(ReadBytes(count));

    private string ReadLine()
    {
        var bytes = new List<byte>();
        while (true)
        {
            int b = ReadByte();
            if (b == '\n')
                return Encoding.ASCII.GetString(bytes.ToArray());
            if (bytes.Count > 256)
                throw new SourceFormatException("pickle GLOBAL name longer than 256 bytes");
            bytes.Add((byte)b);
        }
    }

    /// <summary>LONG1/LONG4: little-endian two's complement. Returned as long when it fits (all
    /// sizes and offsets do); the legacy magic number needs the BigInteger.</summary>
    private object ReadLong(int count)
    {
        var value = new BigInteger(ReadBytes(count), isUnsigned: false, isBigEndian: false);
        return value >= long.MinValue && value <= long.MaxValue ? (long)value : value;
    }

    private SourceFormatException Truncated(string what) =>
        new($"truncated: {what} (file ends at byte {_input.Length})");
}
