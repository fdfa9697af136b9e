"""PyTorch twin of `attn train classifier --model cnn` on TREC coarse: Kim's CNN-rand (embeddings 300, widths 3/4/5 x 100
filters, ReLU, max over time, dropout 0.5, linear), Adam 1e-3, batches of 50, 15 epochs, a stratified seeded 10% of
train_5500.label held out. Prints each epoch's validation accuracy and the best.
Usage: python3 Benchmarks/torch/textcnn_trec.py [TREC_FILE] [MIN_FREQUENCY]   (default ../shared/data/trec/train_5500.label, 1)"""
import random, torch, torch.nn as nn, torch.nn.functional as F, collections, sys
torch.set_num_threads(1); random.seed(0); torch.manual_seed(0)
path=sys.argv[1] if len(sys.argv)>1 else '../shared/data/trec/train_5500.label'
minimum=int(sys.argv[2]) if len(sys.argv)>2 else 1
lines=[l.rstrip('\n') for l in open(path, encoding='latin-1') if l.strip()]
data=[(l.split(' ',1)[0].split(':')[0], l.split(' ',1)[1].lower().split()) for l in lines]
bylab=collections.defaultdict(list)
for i,(y,_) in enumerate(data): bylab[y].append(i)
val=set()
for y,ix in bylab.items(): random.shuffle(ix); val.update(ix[:round(len(ix)*0.1)])
tr=[data[i] for i in range(len(data)) if i not in val]; va=[data[i] for i in sorted(val)]
cnt=collections.Counter(w for _,ws in tr for w in ws)
vocab={w:i+2 for i,w in enumerate([w for w,c in cnt.items() if c>=minimum])}
labs=sorted(bylab); L={y:i for i,y in enumerate(labs)}
def enc(ws): return [vocab.get(w,1) for w in ws][:64]
class Kim(nn.Module):
    def __init__(s,V,E=300):
        super().__init__(); s.emb=nn.Embedding(V,E,padding_idx=0); s.convs=nn.ModuleList([nn.Conv1d(E,100,k) for k in (3,4,5)]); s.d=nn.Dropout(0.5); s.fc=nn.Linear(300,6)
    def forward(s,x):
        e=s.emb(x).transpose(1,2); return s.fc(s.d(torch.cat([F.relu(c(e)).max(2).values for c in s.convs],1)))
def batch(items):
    T=max(5,max(len(enc(w)) for _,w in items)); x=torch.zeros(len(items),T,dtype=torch.long)
    for i,(_,w) in enumerate(items): ids=enc(w); x[i,:len(ids)]=torch.tensor(ids)
    return x, torch.tensor([L[y] for y,_ in items])
m=Kim(len(vocab)+2); opt=torch.optim.Adam(m.parameters(),1e-3)
best=0
for ep in range(15):
    m.train(); random.shuffle(tr)
    for i in range(0,len(tr),50):
        x,y=batch(tr[i:i+50]); loss=F.cross_entropy(m(x),y); opt.zero_grad(); loss.backward(); opt.step()
    m.eval()
    with torch.no_grad(): x,y=batch(va); acc=(m(x).argmax(1)==y).float().mean().item()
    best=max(best,acc); print(ep+1, round(acc,4), flush=True)
print("best", best)
