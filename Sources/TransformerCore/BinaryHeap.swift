/// A binary heap whose first element is the one that precedes all others by the comparison
/// passed to each operation. The comparison is passed rather than stored because it may read
/// state the caller keeps changing (the trainer breaks ties by the bytes of tokens it is
/// still adding).
struct BinaryHeap<Element> {
    private var elements: [Element] = []

    mutating func push(_ element: Element, by precedes: (Element, Element) -> Bool) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(elements[child], elements[parent]) else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    mutating func pop(by precedes: (Element, Element) -> Bool) -> Element? {
        guard let top = elements.first else { return nil }
        let last = elements.removeLast()
        if !elements.isEmpty {
            elements[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var first = parent
                if left < elements.count, precedes(elements[left], elements[first]) { first = left }
                if right < elements.count, precedes(elements[right], elements[first]) { first = right }
                guard first != parent else { break }
                elements.swapAt(parent, first)
                parent = first
            }
        }
        return top
    }
}
